"""manage.py pgtask_worker."""
