"""Course library used by the notebooks: data loading, plotting and training helpers."""
