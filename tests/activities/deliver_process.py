"""One notification delivered in a process of its own, for tests that SIGKILL it
mid-delivery, as a worker dies.

Run: `python -m tests.activities.deliver_process DATABASE_URL SMTP_PORT`, then write the
notification's JSON as one line to its stdin. It runs the `deliver_notification` activity
once, prints DELIVERED when the activity returned, and waits for stdin to close.
"""

from __future__ import annotations

import sys

from temporalio.testing import ActivityEnvironment

from activities.notify import Notifier
from db.read_model import make_engine
from models.notifications import Notification

DELIVERED = "DELIVERED"


def main() -> None:
    url, smtp_port = sys.argv[1], int(sys.argv[2])
    engine = make_engine(url)
    notifier = Notifier(
        engine,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        sender="t@localhost",
        webhook_secret="s",
    )
    notification = Notification.model_validate_json(sys.stdin.readline())
    ActivityEnvironment().run(notifier.deliver, notification)
    print(DELIVERED, flush=True)
    sys.stdin.readline()


if __name__ == "__main__":
    main()
