-- The published file's own documentation: one row per published table and column.
create table candidate.data_dictionary as
with columns_published as (
    select table_name, column_name, data_type, column_index
    from duckdb_columns()
    where database_name = 'candidate'
),

final as (
    select
        columns_published.table_name,
        mart_descriptions.description as table_description,
        columns_published.column_name,
        columns_published.data_type
    from columns_published
    inner join mart_descriptions using (table_name)
    order by columns_published.table_name, columns_published.column_index
)

select * from final
