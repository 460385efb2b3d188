"""pgha.model: what the Pulumi program is built from: settings, layout and rendering (data in, text out), images,
and the checks of the host made before a preview."""
