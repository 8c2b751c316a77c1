"""The datasets raycxr has always read: ``kaggle-covid``, generic class ``folder``\\ s and a ``csv`` table.

``kaggle-covid`` and ``folder`` are the same reader (:func:`~raycxr.data.index_folder`);
``kaggle-covid`` adds the Kaggle database's facts (its four classes, its metadata sheets'
URL as the group) and is what ``auto`` picks when those sheets sit beside its class folders.
"""

from __future__ import annotations

from pathlib import Path

from raycxr.data._checks import check_files, check_labels
from raycxr.data._datasets import register_dataset
from raycxr.data._index import DatasetIndex, index_csv, index_folder

#: The class folders of the Kaggle COVID-19 Radiography Database.
KAGGLE_CLASSES = ("COVID", "Lung_Opacity", "Normal", "Viral Pneumonia")


def _is_kaggle(root: Path) -> bool:
    """Kaggle metadata sheets beside class folders that are all Kaggle classes."""
    if not root.is_dir():
        return False
    folders = {d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")}
    sheets = {p.name.split(".metadata.")[0] for p in root.glob("*.metadata.*") if p.suffix in (".xlsx", ".csv")}
    return bool(folders) and folders <= set(KAGGLE_CLASSES) and bool(sheets & folders)


@register_dataset(
    "kaggle-covid",
    description="Kaggle COVID-19 Radiography Database (Chowdhury et al., Rahman et al.), 299 px PNG",
    layout="<Class>/images/*.png with <Class>.metadata.xlsx (FILE NAME, URL)",
    classes=KAGGLE_CLASSES,
    groups="sources (the metadata sheets' URL); no patient ids",
    official_split="",
    detect=_is_kaggle,
)
def _read_kaggle(root: Path, variant: str | None) -> DatasetIndex:
    """The class-folder reader, refusing class folders the database does not have.

    Raises:
        ValueError: A class folder outside :data:`KAGGLE_CLASSES` (named, with its image
            count), or anything :func:`~raycxr.data.index_folder` refuses.
    """
    index = index_folder(root)
    check_labels([index.classes[y] for y in index.labels], KAGGLE_CLASSES, root, unit="image(s)")
    return index


@register_dataset(
    "folder",
    description="any folder of class folders (the fallback of --dataset auto for a folder)",
    layout="<Class>/*.png or <Class>/images/*.png (PNG, JPEG, DICOM)",
    groups="optional: <Class>.metadata.xlsx/.csv sheets (FILE NAME, URL) give each image's URL",
)
def _read_folder(root: Path, variant: str | None) -> DatasetIndex:
    """Class folders: the folder names are the classes (sorted), see :func:`~raycxr.data.index_folder`."""
    return index_folder(root)


@register_dataset(
    "csv",
    description="any table of images (the fallback of --dataset auto for a .csv file)",
    layout="a CSV with columns path (relative to the CSV's folder, or absolute), label, optional group",
    groups="optional: the 'group' column (patients, sites …)",
)
def _read_csv(root: Path, variant: str | None) -> DatasetIndex:
    """A CSV of ``path,label[,group]`` rows (:func:`~raycxr.data.index_csv`), every listed image on disk.

    Raises:
        ValueError: ``root`` is not a CSV file, a column is missing, or listed images are missing.
    """
    if root.is_dir():
        raise ValueError(f"--dataset csv: {root} is a folder; give the CSV file (columns path,label[,group]).")
    index = index_csv(root)
    check_files(index.paths, root)
    return index
