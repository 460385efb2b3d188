"""pgha.model: what the Pulumi program is built from: settings, layout and rendering (data in, text out), and the
checks of the host made before a preview."""
