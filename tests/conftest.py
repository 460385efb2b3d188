import sys
from pathlib import Path

# Tests import the program's packages (pgha, components) the way Pulumi does: from the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
