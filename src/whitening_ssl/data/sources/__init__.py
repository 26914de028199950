"""Where images come from: the built-in datasets (each registers its entry), image files and their checks, downloads."""
