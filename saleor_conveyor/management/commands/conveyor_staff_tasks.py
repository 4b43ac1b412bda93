"""`manage.py conveyor_staff_tasks`: what staff have to do by hand (thank-you cards), and marking it done."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from saleor_conveyor import conveyor
from saleor_conveyor.errors import ConveyorError


class Command(BaseCommand):
    help = "List open staff tasks (oldest first), or mark one done with --done ID --by NAME."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--due", action="store_true", help="only tasks that are due now")
        parser.add_argument("--done", type=int, metavar="ID", help="mark this task done")
        parser.add_argument("--by", default="", help="who did it (shown to staff)")

    def handle(self, *args, **options) -> None:
        if options["done"] is not None:
            try:
                task = conveyor.complete_staff_task(options["done"], options["by"])
            except ConveyorError as error:
                raise CommandError(error.message) from None
            self.stdout.write(f"task {task.id} done: {task.outcome}")
            return
        tasks = list(conveyor.open_staff_tasks(due_by=timezone.now() if options["due"] else None))
        if not tasks:
            self.stdout.write("no open staff tasks")
            return
        self.stdout.write(f"{'id':>8}  {'due':16}  {'task':16}  {'order':14}  customer")
        for task in tasks:
            who = task.profile.first_name or "-"
            self.stdout.write(
                f"{task.id:>8}  {task.due_at:%Y-%m-%d %H:%M}  {task.rule:16}  {task.order_id or '-':14}  "
                f"{who} <{task.profile.email}>"
            )
        self.stdout.write(f"{len(tasks)} open task(s); mark one done with --done ID --by NAME")
