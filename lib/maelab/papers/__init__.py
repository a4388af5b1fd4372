"""One wing per paper: its runs, its settings (with the paper's numbers) and its paper-specific measurements."""
