"""The verify command's parts: argument parsing, the gated cells' command, the standard suite and its worker processes."""
