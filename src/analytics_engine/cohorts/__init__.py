"""Cohorts: definitions (dynamic and static), versioned evaluation into `cohort_users`, and the
condition every insight uses to filter or break down by cohort (`filters.cohort_condition`)."""
