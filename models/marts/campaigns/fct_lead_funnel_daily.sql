-- The lead conversion funnel: leads by workspace, upload campaign and local upload date (America/Chicago), one row
-- per stage, dense (0 where no lead reached a stage). A lead counts in every stage it reached by the as-of moment:
-- steps uploaded -> e-mailed -> opened -> replied -> interested, and the exits bounced (without replying after)
-- and unsubscribed. Grain: workspace_id, campaign_id, uploaded_date, stage.
with

leads as (
    select * from {{ ref('int_bison__leads') }}
    where uploaded_at is not null
),

workspaces as (
    select * from {{ ref('stg_bison__workspaces') }}
),

campaigns as (
    select * from {{ ref('stg_bison__campaigns') }}
),

stages as (
    select * from (
        values
        (1, 'Uploaded', 'step'),
        (2, 'E-mailed', 'step'),
        (3, 'Opened', 'step'),
        (4, 'Replied', 'step'),
        (5, 'Interested', 'step'),
        (6, 'Bounced', 'exit'),
        (7, 'Unsubscribed', 'exit')
    ) as stage (stage_order, stage, stage_kind)
),

cohorts as (
    select
        workspace_id,
        upload_campaign_id as campaign_id,
        uploaded_date,
        count(*) as uploaded,
        count(*) filter (where is_emailed) as emailed,
        count(*) filter (where is_opened_or_replied) as opened,
        count(*) filter (where is_replied) as replied,
        count(*) filter (where is_interested) as interested,
        count(*) filter (where is_bounced_exit) as bounced,
        count(*) filter (where is_unsubscribed) as unsubscribed
    from leads
    group by workspace_id, upload_campaign_id, uploaded_date
),

final as (
    select
        concat_ws(
            '|', cohorts.workspace_id, coalesce(cohorts.campaign_id::text, 'none'), cohorts.uploaded_date,
            stages.stage_order
        ) as funnel_cell_key,
        cohorts.workspace_id,
        workspaces.name as workspace_name,
        cohorts.campaign_id,
        coalesce(campaigns.name, case when cohorts.campaign_id is null then 'No campaign' else 'Unknown campaign' end)
            as campaign_name,
        cohorts.uploaded_date,
        stages.stage_order,
        stages.stage,
        stages.stage_kind,
        (case stages.stage_order
            when 1 then cohorts.uploaded
            when 2 then cohorts.emailed
            when 3 then cohorts.opened
            when 4 then cohorts.replied
            when 5 then cohorts.interested
            when 6 then cohorts.bounced
            when 7 then cohorts.unsubscribed
        end)::integer as leads
    from cohorts
    cross join stages
    left join workspaces on cohorts.workspace_id = workspaces.workspace_id
    left join campaigns on cohorts.campaign_id = campaigns.campaign_id
)

select * from final
