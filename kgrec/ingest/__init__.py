"""Fast, faithful RDF ingestion: bulk readers, one integer-coded graph builder, summary and on-disk cache."""
