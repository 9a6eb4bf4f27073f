"""What an agent does to a task it works on, over the REST API: ``actions`` (read the task's
context, post to its thread, move its state). The states and the moves an agent may make are
``registry/task_states.py``; posting is ``taskflow/mirror.py``; the brakes on posting are
``safeguards``."""
