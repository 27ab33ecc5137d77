-- One row per agent and work date with logged time: minutes per category, and the same minutes split at the
-- pre-automation shares (seed), so any selection's "now vs pre-automation" and hours saved are sums of rows.
with

entries as (
    select * from {{ ref('stg_crm__agent_time_entries') }}
),

agents as (
    select * from {{ ref('int_agents__agents') }}
),

go_live as (
    select * from {{ ref('int_crm__go_live') }}
),

baseline as (
    select * from {{ ref('pre_automation_time_shares') }}
),

as_of as (
    select * from {{ ref('int_common__as_of_date') }}
),

shares as (
    select
        max(share_pct) filter (where category = 'selling') / 100.0 as pre_selling_share,
        max(share_pct) filter (where category = 'administrative') / 100.0 as pre_administrative_share,
        max(share_pct) filter (where category = 'follow_up') / 100.0 as pre_follow_up_share
    from baseline
),

agent_days as (
    select
        entries.agent_id,
        entries.work_date,
        coalesce(sum(entries.minutes) filter (where entries.category = 'selling'), 0) as selling_minutes,
        coalesce(sum(entries.minutes) filter (where entries.category = 'administrative'), 0) as administrative_minutes,
        coalesce(sum(entries.minutes) filter (where entries.category = 'follow_up'), 0) as follow_up_minutes,
        sum(entries.minutes) as logged_minutes
    from entries
    cross join as_of
    where entries.work_date <= as_of.as_of_date
    group by entries.agent_id, entries.work_date
),

final as (
    select
        agent_days.agent_id || '|' || agent_days.work_date as agent_day_key,
        agent_days.agent_id,
        agents.agent_name,
        agents.location_name,
        agents.organization_name,
        agent_days.work_date,
        coalesce(agent_days.work_date >= go_live.go_live_date, false) as is_after_go_live,
        agent_days.selling_minutes,
        agent_days.administrative_minutes,
        agent_days.follow_up_minutes,
        agent_days.logged_minutes,
        (agent_days.logged_minutes * shares.pre_selling_share)::numeric(14, 4) as pre_selling_minutes,
        (agent_days.logged_minutes * shares.pre_administrative_share)::numeric(14, 4) as pre_administrative_minutes,
        (agent_days.logged_minutes * shares.pre_follow_up_share)::numeric(14, 4) as pre_follow_up_minutes,
        (
            agent_days.logged_minutes * (shares.pre_administrative_share + shares.pre_follow_up_share)
            - agent_days.administrative_minutes - agent_days.follow_up_minutes
        )::numeric(14, 4) as non_selling_minutes_saved
    from agent_days
    inner join agents
        on agent_days.agent_id = agents.agent_id
    left join go_live
        on agents.organization_name = go_live.organization_name
    cross join shares
)

select * from final
