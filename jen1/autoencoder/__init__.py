"""jen1.autoencoder"""
