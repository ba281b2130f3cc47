"""The report: figures, a document model, and its Markdown and HTML renderings."""
