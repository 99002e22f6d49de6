"""One in-process scheduler inside `serve`: interval and cron triggers (time zone aware), and a
run missed while the service was down happens once on start, not once per missed slot."""

from analytics_engine.scheduler.core import Cron, Every, Scheduler

__all__ = ["Cron", "Every", "Scheduler"]
