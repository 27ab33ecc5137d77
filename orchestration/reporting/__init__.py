"""Scheduled reports and alerts (issue 20): specs in metabase/reports and metabase/alerts, the calendar they run
on, the delivery and alert ledgers that make each send happen once, and the e-mail/webhook channels."""
