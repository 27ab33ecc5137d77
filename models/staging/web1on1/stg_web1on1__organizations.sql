with

source as (
    select * from {{ source('web1on1', 'organizations') }}
),

renamed as (
    select
        ---------- ids
        id as organization_id,
        ---------- text
        name,
        lower(trim(business_type)) as business_type,
        ---------- numerics
        potential_inbound_leads,
        potential_workshop_jobs,
        potential_sales_advisors,
        potential_service_advisors,
        potential_monthly_visitors,
        ---------- timestamps (UTC, as loaded)
        created_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
