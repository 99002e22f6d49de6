"""Scheduled reports: a dashboard (or a list of insight/metric queries) rendered to a PDF with
charts and an XLSX of the numbers, on a cron schedule in the tenant's time zone, delivered by email
and/or a signed webhook; every run recorded."""
