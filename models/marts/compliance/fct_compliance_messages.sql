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
        a.activity_id,
        a.lead_id,
        a.channel,
        a.is_automated,
        a.occurred_at as sent_at,
        l.location_id,
        case a.channel when 'sms' then l.sms_consent_at else l.email_consent_at end as consent_at,
        case a.channel when 'sms' then l.sms_opt_out_at else l.email_opt_out_at end as opt_out_at
    from activities as a
    inner join leads as l on a.lead_id = l.lead_id
    where
        a.direction = 'outbound'
        and a.channel in ('sms', 'email')
        and a.occurred_at <= {{ as_of_timestamp() }}
),

final as (
    select
        m.activity_id,
        m.lead_id,
        coalesce(loc.organization_name, '(Unknown)') as organization_name,
        coalesce(loc.location_name, '(Unknown)') as location_name,
        m.channel,
        case m.channel when 'sms' then 'TCPA' else 'CAN-SPAM' end as regulation,
        m.is_automated,
        m.sent_at,
        {{ reporting_date('m.sent_at') }} as sent_date,
        m.consent_at,
        m.opt_out_at,
        case
            when m.opt_out_at is not null and m.opt_out_at <= m.sent_at then 'after opt-out'
            when m.consent_at is null or m.consent_at > m.sent_at then 'no consent'
            else 'compliant'
        end as consent_status,
        (
            (m.opt_out_at is not null and m.opt_out_at <= m.sent_at)
            or m.consent_at is null
            or m.consent_at > m.sent_at
        )::integer as is_violation
    from messages as m
    left join locations as loc on m.location_id = loc.location_id
)

select * from final
