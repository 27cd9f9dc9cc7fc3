"""The course's training runs: settings (spec), training (reproduce), run folders (runfolder), outputs
(outputs) and the two frameworks stepped side by side (lockstep)."""
