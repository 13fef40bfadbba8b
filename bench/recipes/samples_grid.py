# docs/quickstart-samples.png: real healthy training images, then the GAN's and the DDPM's
# first eight healthy samples, 3x nearest-neighbour. Needs Pillow. Usage:
#   python3 bench/recipes/samples_grid.py pipelines/.augflow/out docs/quickstart-samples.png
import json, sys
from PIL import Image
out, dest = sys.argv[1], sys.argv[2]
def first(folder, n=8, label="healthy"):
    m = json.load(open(f"{folder}/images.json"))
    return [f"{folder}/{r['path']}" for r in m["images"] if r["label"] == label][:n]
rows = [first(f"{out}/split/train"), first(f"{out}/sample@gan/images"), first(f"{out}/sample@ddpm/images")]
cell = 96
grid = Image.new("L", (8 * cell, len(rows) * cell))
for y, row in enumerate(rows):
    for x, path in enumerate(row):
        grid.paste(Image.open(path).convert("L").resize((cell, cell), Image.NEAREST), (x * cell, y * cell))
grid.save(dest)
