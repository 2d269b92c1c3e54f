"""Built-in plugins: ordinary plugin modules, registered like any installed plugin."""
