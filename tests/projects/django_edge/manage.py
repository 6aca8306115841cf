#!/usr/bin/env python
"""Sample Django project for foreshock's tests: hstore, paired AlterUniqueTogether, a failing migration,
a squashed migration."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edgesite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
