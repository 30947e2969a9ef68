from confab.cli import app

app()
