from django.core.management.base import BaseCommand

from apps.core.services import demo_accounts_ensure


class Command(BaseCommand):
    help = "Create the demo learner, author and hiring-manager accounts (idempotent)."

    def handle(self, *args, **options):
        for account in demo_accounts_ensure():
            password = account.password or "(unchanged since it was created)"
            self.stdout.write(f"  {account.role:<15} {account.username:<10} {password}")
