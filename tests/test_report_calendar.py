"""The reporting calendar: send times on DST days (one send a day, at the local time), the 2nd business day with
holidays (seeds/crm_holidays.csv), the periods a send covers around New Year, and the crons Dagster ticks on.
All expected instants worked out by hand: Chicago is UTC-6 in winter (CST) and UTC-5 in summer (CDT); in 2027
daylight time starts on Sunday 14 March (2:00 -> 3:00) and in 2026 ends on Sunday 1 November (2:00 -> 1:00)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from orchestration.reporting.calendar import Schedule, holidays, nth_business_day

CHICAGO = "America/Chicago"
DAILY = Schedule("daily", time(8), CHICAGO)
WEEKLY = Schedule("weekly", time(9), CHICAGO, weekday=0)
MONTHLY = Schedule("monthly", time(9), CHICAGO, business_day=2)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fires(schedule: Schedule, start: datetime, end: datetime, closed=None) -> list[datetime]:
    return list(schedule.fire_times(start, end, closed))


def test_daily_at_eight_local_through_both_dst_changes():
    assert fires(DAILY, utc(2027, 3, 13), utc(2027, 3, 16)) == [
        utc(2027, 3, 13, 14),
        utc(2027, 3, 14, 13),
        utc(2027, 3, 15, 13),
    ]
    assert fires(DAILY, utc(2026, 10, 31), utc(2026, 11, 3)) == [
        utc(2026, 10, 31, 13),
        utc(2026, 11, 1, 14),
        utc(2026, 11, 2, 14),
    ]


def test_a_time_inside_the_dst_change_is_sent_once_neither_skipped_nor_doubled():
    night = Schedule("daily", time(2, 30), CHICAGO)
    # 02:30 does not exist on 14 March 2027: sent at 03:30 CDT (08:30 UTC), once.
    assert fires(night, utc(2027, 3, 13, 12), utc(2027, 3, 15, 12)) == [
        utc(2027, 3, 14, 8, 30),
        utc(2027, 3, 15, 7, 30),
    ]
    # 01:30 happens twice on 1 November 2026: sent at the first (CDT, 06:30 UTC) only.
    early = Schedule("daily", time(1, 30), CHICAGO)
    assert fires(early, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12)) == [
        utc(2026, 11, 1, 6, 30),
        utc(2026, 11, 2, 7, 30),
    ]


def test_second_business_day_skips_weekends_and_holidays():
    closed = holidays()
    assert date(2027, 1, 1) in closed and date(2026, 1, 1) in closed
    assert nth_business_day(2027, 1, 2, closed) == date(2027, 1, 5)  # Fri 1 Jan holiday, weekend, Mon 4 = 1st
    assert nth_business_day(2026, 1, 2, closed) == date(2026, 1, 5)  # Thu 1 Jan holiday, Fri 2 = 1st
    assert nth_business_day(2025, 9, 2, closed) == date(2025, 9, 3)  # Mon 1 Sep Labor Day
    assert nth_business_day(2027, 5, 2, closed) == date(2027, 5, 4)  # Sat 1 May
    # a location holiday on what would be the 2nd business day moves it to the next day
    assert nth_business_day(2026, 3, 2, frozenset({date(2026, 3, 3)})) == date(2026, 3, 4)
    assert fires(MONTHLY, utc(2026, 12, 1), utc(2027, 4, 30)) == [
        utc(2026, 12, 2, 15),
        utc(2027, 1, 5, 15),
        utc(2027, 2, 2, 15),
        utc(2027, 3, 2, 15),
        utc(2027, 4, 2, 14),
    ]


def test_periods_around_new_year():
    assert DAILY.period(utc(2027, 1, 1, 14)).key == "2026-12-31"
    week = WEEKLY.period(utc(2027, 1, 4, 15))
    assert (week.key, week.first, week.last) == ("2026-W53", date(2026, 12, 28), date(2027, 1, 3))
    assert week.label == "week 53, 28 Dec – 3 Jan 2027"
    month = MONTHLY.period(utc(2027, 1, 5, 15))
    assert (month.key, month.first, month.last, month.label) == (
        "2026-12",
        date(2026, 12, 1),
        date(2026, 12, 31),
        "December 2026",
    )
    # asked on 4 January 2027 at 10:00 CST (before the 2nd business day), the latest monthly send is December's
    assert MONTHLY.last_fire(utc(2027, 1, 4, 16)) == utc(2026, 12, 2, 15)
    assert MONTHLY.period(MONTHLY.last_fire(utc(2027, 1, 4, 16))).key == "2026-11"


def test_crons_dagster_ticks_on():
    assert (DAILY.cron(), WEEKLY.cron(), MONTHLY.cron()) == ("0 8 * * *", "0 9 * * 1", "0 9 1-7 * *")


def test_dagster_runs_each_report_on_its_calendar_once_per_period():
    from dagster import build_schedule_context

    from orchestration import settings
    from orchestration.defs.reporting import report_schedules

    config = settings.Settings.load({"LEAD_ANALYTICS_TIMEZONE": CHICAGO})
    schedules = {s.name: s for s in report_schedules(config)}
    assert {n: (s.cron_schedule, s.execution_timezone) for n, s in schedules.items()} == {
        "report_daily": ("0 8 * * *", CHICAGO),
        "report_weekly_executive": ("0 9 * * 1", CHICAGO),
        "report_monthly_review": ("0 9 1-7 * *", CHICAGO),
        "report_compliance": ("0 9 1-7 * *", CHICAGO),
    }

    def tick(name: str, moment: datetime):
        result = schedules[name].evaluate_tick(build_schedule_context(scheduled_execution_time=moment))
        return [r.run_key for r in result.run_requests or []], result.skip_message

    assert tick("report_monthly_review", utc(2027, 1, 4, 15)) == ([], "monthly_review: not its business day 2")
    assert tick("report_monthly_review", utc(2027, 1, 5, 15)) == (["monthly_review:2026-12"], None)
    assert tick("report_daily", utc(2027, 3, 14, 13)) == (["daily:2027-03-13"], None)
    assert tick("report_weekly_executive", utc(2027, 3, 15, 14)) == (["weekly_executive:2027-W10"], None)
