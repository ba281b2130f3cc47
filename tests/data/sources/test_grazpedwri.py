
from fracture.data.sources import acquire, data_config
from tests.conftest import png_bytes, radiograph_like, tiny_params, zip_bytes

CSV = """filestem,patient_id,timehash,laterality,projection,fracture_visible,metal
0001_1297860395_01_WRI-L1_M014,1,1297860395,L,1,1,
0001_1297860395_02_WRI-L2_M014,1,1297860395,L,2,1,
0001_1300000000_01_WRI-L1_M014,1,1300000000,L,1,,
0002_1297861111_01_WRI-R1_F011,2,1297861111,R,1,,
0002_1297861111_02_WRI-R2_F011,2,1297861111,R,3,,
"""


def test_zip_parts_and_dataset_csv_in_a_folder(tmp_path, monkeypatch):
    stems = [line.split(",")[0] for line in CSV.splitlines()[1:]]
    download = tmp_path / "GRAZPEDWRI-DX"
    download.mkdir()
    (download / "dataset.csv").write_text(CSV)
    (download / "images_part1.zip").write_bytes(zip_bytes(
        {f"images_part1/{stem}.png": png_bytes(radiograph_like(i)) for i, stem in enumerate(stems[:3])}))
    (download / "images_part2.zip").write_bytes(zip_bytes(
        {f"images_part2/{stem}.png": png_bytes(radiograph_like(i + 3)) for i, stem in enumerate(stems[3:])}))
    monkeypatch.chdir(tmp_path)
    params = tiny_params(**{"data.source": "grazpedwri", "data.path": str(download)})
    manifest, annotations = acquire(data_config(params), tmp_path / "raw")
    manifest = manifest.set_index("image_id")
    assert annotations == {"file": "", "images": {}, "left_out": {}}, "GRAZPEDWRI-DX brings no fracture outlines"
    assert len(manifest) == 5 and set(manifest["region"]) == {"wrist"}
    assert manifest["label"].tolist() == [1, 1, 0, 0, 0]
    assert manifest["patient_id"].nunique() == 2
    studies = manifest.loc[stems, "study_id"].tolist()
    assert studies[0] == studies[1] != studies[2]
    assert manifest.loc[stems[1], "view"] == "lateral" and manifest.loc[stems[4], "view"] == "oblique"
    assert manifest.loc[stems[3], "path"] == f"source/images_part2/{stems[3]}.png"
