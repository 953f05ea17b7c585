"""What the docker_images role's action plugin `docker_images_send` knows, apart from Ansible.

`docker load` (classic image store, Docker 20.10 to 26 at least) looks a layer up by its
chain ID before it opens that layer's file in the archive, and needs the file only when
the layer is missing. So an archive holding manifest.json, the image config and only the
missing layers loads on a server that has the others, and the image keeps its ID. Once
one layer is missing, every layer above it must be sent: a chain ID covers the layer and
all layers below it (moby image/tarexport/load.go).

The containerd image store (Docker 29's default on new installs) resolves layers by
their content and rejects such archives, so those servers get the whole image.

- `images`: an image as both engines describe it, and when two are the same build.
- `server`: the shell commands the plugin runs on the server, reading their answer, and
  what to do there.
- `archive`: a `docker save` archive cut down to the layers the server lacks.
- `local`: the controller's Docker engine (Docker SDK for Python).

Plain Python (the standard library, and the Docker SDK in `local`), no Ansible: the
plugin puts this role's plugin_utils/ on sys.path (see the plugin for why), the unit
tests do the same.
"""
