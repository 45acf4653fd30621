"""The outbox: dispatcher, reminders, and the alarm-clock wiring (see scheduler.install)."""
