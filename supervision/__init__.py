"""Service supervision without Flask: provider grading, credit files, commendations and sanctions."""
