"""jen1.inference: the pure pieces of the pipeline (window planning, splicing), testable alone."""
