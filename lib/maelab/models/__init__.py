"""Models: ViT encoder, masking, targets, losses, decoders, MAE, LC-MAE and the DINO reference. Imports only data/."""
