import numpy as np

from m3e.restore.picture import LazyPicture, pixels


def test_a_lazy_picture_is_made_once_when_first_looked_at() -> None:
    made = []

    def make() -> np.ndarray:
        made.append(1)
        return np.full((4, 6, 3), 7, np.uint8)

    picture = LazyPicture(make)
    assert not picture.made and made == []
    first = pixels(picture)
    assert picture.made and made == [1] and int(first[0, 0, 0]) == 7
    assert pixels(picture) is first and made == [1]
    plain = np.zeros((2, 2, 3), np.uint8)
    assert pixels(plain) is plain
