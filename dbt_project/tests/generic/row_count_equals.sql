{#- Fails unless the model has exactly `n` rows. -#}
{% test row_count_equals(model, n) %}
    select count(*) as row_count
    from {{ model }}
    having count(*) <> {{ n }}
{% endtest %}
