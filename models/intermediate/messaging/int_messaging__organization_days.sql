-- One row per Web1on1 organization and local date, from the date it was created to the as-of date, with the
-- account settings valid on that date: the potentials and the business type from the snapshot of the
-- organizations table, and the assumed chat conversion rate of that business type (D38, D80).
with

versions as (
    select * from {{ ref('snp_web1on1__organizations') }}
),

organizations as (
    select * from {{ ref('stg_web1on1__organizations') }}
),

benchmarks as (
    select * from {{ ref('chat_conversion_benchmarks') }}
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

as_of as (
    select * from {{ ref('int_common__as_of_date') }}
),

ranked as (
    select
        id as organization_id,
        lower(trim(business_type)) as business_type,
        potential_inbound_leads,
        potential_workshop_jobs,
        potential_sales_advisors,
        potential_service_advisors,
        potential_monthly_visitors,
        {{ reporting_date('dbt_valid_from') }} as valid_from_date,
        {{ reporting_date('dbt_valid_to') }} as valid_to_date,
        row_number() over (partition by id order by dbt_valid_from) as version_number
    from versions
),

-- the first version a run saw also covers the days before it: earlier settings were never recorded (D38)
validity as (
    select
        ranked.*,
        case
            when ranked.version_number = 1 then {{ reporting_date('organizations.created_at') }}
            else ranked.valid_from_date
        end as first_date,
        organizations.name as organization_name,
        {{ reporting_date('organizations.created_at') }} as created_date
    from ranked
    inner join organizations on ranked.organization_id = organizations.organization_id
),

final as (
    select
        validity.organization_id,
        validity.organization_name,
        calendar.calendar_date,
        validity.business_type,
        -- a potential is the sum of its configured parts; null only when none of them is configured
        case
            when validity.potential_inbound_leads is null and validity.potential_workshop_jobs is null then null
            else coalesce(validity.potential_inbound_leads, 0) + coalesce(validity.potential_workshop_jobs, 0)
        end as potential_engaged_contacts,
        case
            when validity.potential_sales_advisors is null and validity.potential_service_advisors is null then null
            else coalesce(validity.potential_sales_advisors, 0) + coalesce(validity.potential_service_advisors, 0)
        end as potential_users,
        validity.potential_monthly_visitors as potential_visitors,
        benchmarks.avg_chat_conversion_rate as chat_conversion_rate
    from validity
    cross join as_of
    inner join calendar
        on calendar.calendar_date >= greatest(validity.first_date, validity.created_date)
            and (validity.valid_to_date is null or validity.valid_to_date > calendar.calendar_date)
            and as_of.as_of_date >= calendar.calendar_date
    left join benchmarks on validity.business_type = benchmarks.business_type
)

select * from final
