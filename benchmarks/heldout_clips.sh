#!/bin/sh
# Recordings for a held-out check of the quality benchmark: six real recordings that no setting was tuned
# on, taken from two Debian packages (not kept in this repository). Needs a Debian system with apt.
#
#   sh benchmarks/heldout_clips.sh DIR    # writes DIR/ho_*.{ogg,flac}, prints a --clips value
#
# Sources and licences (from the packages' own README.txt and copyright files):
#   minetest-data  env_sounds_lava.1.ogg    Halion, freesound 17785, CC0
#   minetest-data  env_sounds_water.2.ogg   Yuval, freesound 197023, CC0 (the recording data/demo's water
#                                           stream is another excerpt of, fades included)
#   minetest-data  fire_large.ogg           Dynamicell, freesound 17548, CC BY 3.0
#   sonic-pi-samples  ambi_haunted_hum.flac kaligari, freesound 35392, CC0
#   sonic-pi-samples  loop_safari.flac      nemaavla, freesound 318759, CC0
#   sonic-pi-samples  ambi_sauna.flac       Sonic Pi (Samuel Aaron), MIT
set -eu
dst=${1:?usage: heldout_clips.sh DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dst"
(cd "$work" && apt-get download minetest-data sonic-pi-samples >/dev/null)
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
mods="$work/x/usr/share/games/minetest/games/minetest_game/mods"
samples="$work/x/usr/share/sonic-pi/samples"
cp "$mods/env_sounds/sounds/env_sounds_lava.1.ogg" "$dst/ho_lava_minetest.ogg"
cp "$mods/env_sounds/sounds/env_sounds_water.2.ogg" "$dst/ho_water2_minetest.ogg"
cp "$mods/fire/sounds/fire_large.ogg" "$dst/ho_fire_large_minetest.ogg"
cp "$samples/ambi_haunted_hum.flac" "$dst/ho_haunted_hum_sonicpi.flac"
cp "$samples/loop_safari.flac" "$dst/ho_safari_sonicpi.flac"
cp "$samples/ambi_sauna.flac" "$dst/ho_sauna_sonicpi.flac"
ls "$dst"/ho_* | paste -sd, -
