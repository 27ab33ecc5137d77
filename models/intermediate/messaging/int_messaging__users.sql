-- One row per Web1on1 user with the labels the per-user, per-level and after-sales pages show: a display name
-- that is unique (the last characters of the id are added when two users share a name), level and role labels,
-- and whether the user belongs to the client's own organisation (level 2-3) or is a Web1on1 agent (0-1).
with

users as (
    select * from {{ ref('stg_web1on1__users') }}
),

locations as (
    select * from {{ ref('stg_web1on1__locations') }}
),

departments as (
    select * from {{ ref('stg_web1on1__departments') }}
),

final as (
    select
        users.user_id,
        users.organization_id,
        case
            when count(*) over (partition by users.name) > 1 then users.name || ' (' || right(users.user_id, 4) || ')'
            else users.name
        end as user_label,
        users.role,
        initcap(users.role) as role_label,
        users.level,
        'Level ' || users.level || case
            when users.is_web1on1_agent then ' · Web1on1 agent'
            else ' · your organisation'
        end as level_label,
        users.is_web1on1_agent,
        not users.is_web1on1_agent as is_own_organisation,
        users.is_guest,
        users.active,
        users.location_id,
        users.department_id,
        coalesce(locations.name, 'no location') as location_name,
        coalesce(departments.name, 'no department') as department_name
    from users
    left join locations on users.location_id = locations.location_id
    left join departments on users.department_id = departments.department_id
)

select * from final
