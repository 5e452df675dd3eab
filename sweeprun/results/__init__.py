"""Reading a sweep back: status, trials, best, export and the HTML report."""
