"""maelab: models, losses, data, training, metrics and pipeline for the MAE-explained papers."""
