# Saleor finds permissions by bare codename, so the sandbox host's "manage_users" and
# "manage_orders" duplicated Saleor's own (Permission.objects.get(codename=...) failed, the
# Dashboard listed them twice). Rename them, keeping any grants already made.

from django.db import migrations

RENAMES = {"manage_users": "conveyor_manage_users", "manage_orders": "conveyor_manage_orders"}


def _permission_model(apps):
    for label in ("permission", "auth"):  # Saleor's own Permission model, else Django's
        try:
            return apps.get_model(label, "Permission")
        except LookupError:
            continue
    return None


def rename(apps, schema_editor, renames=RENAMES):
    Permission = _permission_model(apps)
    if Permission is None:
        return
    ours = Permission.objects.filter(content_type__app_label="saleor_conveyor")
    for old, new in renames.items():
        if not ours.filter(codename=new).exists():
            ours.filter(codename=old).update(codename=new)


def rename_back(apps, schema_editor):
    rename(apps, schema_editor, {new: old for old, new in RENAMES.items()})


class Migration(migrations.Migration):

    dependencies = [
        ('saleor_conveyor', '0001_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='fanprofile',
            options={'permissions': [('conveyor_manage_users', 'Staff: read fan profiles and inquiries (sandbox host)'), ('conveyor_manage_orders', 'Staff: read stats and decide returns (sandbox host)')]},
        ),
        migrations.RunPython(rename, rename_back),
    ]
