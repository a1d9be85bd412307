"""Programs that train and evaluate, and write the results an issue asks to show (curves, JSON)."""
