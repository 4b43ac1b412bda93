"""A tiny shop for the sandbox: orders with lines, so the returns flow has something to return."""
