import matplotlib.pyplot as plt

# Saved, then closed: it still comes back, as it was saved.
fig = plt.figure(figsize=(4, 3))
plt.plot([0, 1, 4, 9])
plt.title("squares")
fig.savefig("squares.png")
plt.close(fig)

# Left open at the end.
plt.figure()
plt.bar(["a", "b"], [2, 3])
print("done")
