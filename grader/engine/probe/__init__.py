"""The model probe: logged models loaded and asked to predict, confined."""
