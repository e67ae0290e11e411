"""Video sources: plugins that list (and, for generated data, make) the videos of a dataset."""
