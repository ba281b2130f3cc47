# The recipes of the hand and wrist search (studies/hand_recipe.sh), as dvc exp run -S arguments; sourced, not run.
# Each builds on the one before; RECOMMENDED (at the end) is the one README.md recommends for real films.

# The recipe README.md recommended before the search: pretrained efficientnet_lite0, one head-only epoch, the
# backbone at a tenth of the head's rate, no filter, 128 px, 10 epochs, Adam, plateau schedule, class weights.
BASE=(-S model.arch=efficientnet_lite0 -S model.pretrained=true -S train.freeze_epochs=1
      -S train.backbone_lr_factor=0.1 -S 'enhance.filters=[none]' -S enhance.image_size=128 -S train.epochs=10)
# The same, channels-last on the CPU (and, since this release, no backward pass through the frozen backbone).
FAST=("${BASE[@]}" -S train.memory_format=channels_last)
# A modern fine-tuning recipe: AdamW with decoupled weight decay, cosine decay after the head-only epoch, label
# smoothing, and the moving average of the weights kept instead of the last ones.
MODERN=("${FAST[@]}" -S train.optimizer=adamw -S train.weight_decay=0.05 -S train.lr_schedule.type=cosine
        -S train.label_smoothing=0.1 -S train.ema=0.99)
# The modern recipe at 224 px: a phalanx or metacarpal fracture is a few pixels wide at 128.
MODERN224=("${MODERN[@]}" -S enhance.image_size=224)
# The modern recipe at 224 px answering through a fracture map trained on the annotators' boxes, its probabilities
# calibrated on validation.
MAP224=("${MODERN224[@]}" -S model.head=map -S train.calibration=temperature)

# The map recipe with a finer map: cells of 4 pixels (the stride-4 stage tapped too) instead of 8.
FINE224=("${MAP224[@]}" -S model.map_stride=4)

# The map recipe whose boxes are regressed: each cell of the map also learns the sides of the box it lies in.
BOX224=("${MAP224[@]}" -S model.map_box=regressed)

# Crop training: the map recipe on 448 px films, trained on 224 px squares cut from them (each step costs a 224 px
# step), every film scored whole at 448 px, its probabilities Platt-scaled on validation.
CROP448=("${MODERN224[@]}" -S enhance.image_size=448 -S model.head=map -S train.crop=224 -S train.calibration=platt)

# What README.md recommends for real films, and what studies/recommended.sh runs: the fracture map, chosen in every
# fold over two seeds on films that did not choose it (docs/studies/fracture_map.md), with Platt scaling, which
# moves no film's rank and makes its probabilities readable.
RECOMMENDED=("${MAP224[@]}" -S train.calibration=platt)
