"""Standard APIs at the edge: Gymnasium and PettingZoo views of any world."""
