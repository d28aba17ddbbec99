"""jen1.synth: the synthetic-music corpus (composer, music21 works, SoundFont rendering, captions).

Apart from :mod:`jen1.data` (manifests, datasets, latent cache): this package makes music, that one
reads it. :func:`jen1.synth.corpus.synthesize_corpus` writes a data folder in the manifest format of
:mod:`jen1.data.metadata`.
"""
