-- One row per outbound SMS or e-mail to a CRM lead up to the as-of moment, with the lead's consent and opt-out
-- for that channel as the CRM records them (issue 20, D179): TCPA for SMS, CAN-SPAM for e-mail. A message sent
-- when no consent was recorded yet, or at or after the opt-out, is a violation.
with

activities as (
    select * from {{ ref('stg_crm__activities') }}
),

leads as (
    select * from {{ ref('stg_crm__leads') }}
),

locations as (
    select * from {{ ref('stg_crm__locations') }}
),

messages as (
    select
        act.activity_id,
        act.lead_id,
        act.channel,
        act.is_automated,
        act.occurred_at as sent_at,
        lds.location_id,
        case act.channel when 'sms' then lds.sms_consent_at else lds.email_consent_at end as consent_at,
        case act.channel when 'sms' then lds.sms_opt_out_at else lds.email_opt_out_at end as opt_out_at
    from activities as act
    inner join leads as lds on act.lead_id = lds.lead_id
    where
        act.direction = 'outbound'
        and act.channel in ('sms', 'email')
        and {{ as_of_cut('act.occurred_at') }}
),

final as (
    select
        msg.activity_id,
        msg.lead_id,
        coalesce(loc.organization_name, '(Unknown)') as organization_name,
        coalesce(loc.location_name, '(Unknown)') as location_name,
        msg.channel,
        case msg.channel when 'sms' then 'TCPA' else 'CAN-SPAM' end as regulation,
        msg.is_automated,
        msg.sent_at,
        {{ reporting_date('msg.sent_at') }} as sent_date,
        msg.consent_at,
        msg.opt_out_at,
        case
            when msg.opt_out_at is not null and msg.opt_out_at <= msg.sent_at then 'after opt-out'
            when msg.consent_at is null or msg.consent_at > msg.sent_at then 'no consent'
            else 'compliant'
        end as consent_status,
        (
            (msg.opt_out_at is not null and msg.opt_out_at <= msg.sent_at)
            or msg.consent_at is null
            or msg.consent_at > msg.sent_at
        )::integer as is_violation
    from messages as msg
    left join locations as loc on msg.location_id = loc.location_id
)

select * from final
